"""The one base class of aucgan's user-facing errors: the CLI prints these as one line and exits 2."""


class AucganError(Exception):
    """Bad input or a refused operation, with a message naming the file/row/field and what was expected."""
