"""Exception types of the library: every message is meant to be read by a clinician, in one line."""


class SPECTFewShotError(Exception):
    """Base class of every error the library raises on purpose."""


class InputError(SPECTFewShotError):
    """The user's input (a file, a painting, landmarks, a parameter) cannot be used as it is."""


class ModelError(SPECTFewShotError):
    """Model weights are missing, corrupt or do not match the registry."""


class CancelledError(SPECTFewShotError):
    """The user cancelled a long computation."""


def short_reason(error: BaseException) -> str:
    """The first line of an underlying library's error message, shortened to fit one line of ours."""
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
