"""``python -m labtrust_gym`` runs the ``labtrust`` CLI."""

from labtrust_gym.cli import main

if __name__ == "__main__":
    main()
