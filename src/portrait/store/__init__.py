"""The warehouse layer: the only code that talks to the database."""
