"""Sources turn what a user names (files, folders, archives; later URLs, crawls, exports) into
a stream of :class:`MediaRef` without loading everything at once."""

from haechi.sources.files import MediaRef, iter_media

__all__ = ["MediaRef", "iter_media"]
