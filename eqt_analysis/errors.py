"""One exception family for eqt. The CLI maps `InputError` to exit code 2."""


class EqtError(Exception):
    """Base class of every error eqt raises on purpose."""


class InputError(EqtError):
    """Bad input: a file or an argument that eqt cannot use.

    The message is one line that names the file (when there is one) and the problem.
    """

    def __init__(self, message, path=None):
        self.message = message
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
