"""``python -m streams`` is the ``interest-tracker`` command."""

from streams.cli import main

if __name__ == "__main__":
    main()
