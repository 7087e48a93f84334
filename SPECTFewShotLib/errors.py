"""Exception types of the library: every message is meant to be read by a clinician, in one line."""

import re


class SPECTFewShotError(Exception):
    """Base class of every error the library raises on purpose."""


class InputError(SPECTFewShotError):
    """The user's input (a file, a painting, landmarks, a parameter) cannot be used as it is."""


class ModelError(SPECTFewShotError):
    """Model weights are missing, corrupt or do not match the registry."""


class CancelledError(SPECTFewShotError):
    """The user cancelled a long computation."""


def short_reason(error: BaseException) -> str:
    """An underlying library's error message as a short reason that fits one line of ours.

    ITK's messages start with the C++ source file and line, and NRRD's end with the innermost cause: the reason is
    the innermost cause, without source paths, function names or object addresses.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if lines[0].startswith("Exception thrown in SimpleITK") or any(line.startswith("ITK ERROR") for line in lines):
        lines = [line for line in lines if not line.startswith("Exception thrown in SimpleITK")] or lines
        line = lines[-1]
        line = re.sub(r"^ITK ERROR: \w+\(0x[0-9a-f]+\): ", "", line)
        line = re.sub(r"^\[\w+\] \w+: ", "", line)
        line = re.sub(r"(/[^\s:]+)+", lambda m: m.group(0).rsplit("/", 1)[-1], line)
        return line.rstrip(":")[:160] or type(error).__name__
    return lines[0][:160]
