"""Distributed work: Celery tasks over a Redis or RabbitMQ broker, state in the database."""
