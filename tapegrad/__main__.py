"""``python -m tapegrad`` runs the command line."""

from tapegrad.cli.main import main

if __name__ == "__main__":
    main()
