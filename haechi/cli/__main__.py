from haechi.cli.main import main

main()
