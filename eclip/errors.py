"""One exception type per layer. Each carries a message a person can act on:
which file or value was wrong, what was expected, and what to do about it."""


class EclipError(Exception):
    """Base class for every error the library raises on purpose."""


class DataError(EclipError):
    """Base for the data layer."""


class ImageLoadError(DataError):
    """An image file could not be decoded into a grey radiograph."""


class GazeFormatError(DataError):
    """A gaze/fixation file is missing columns or holds no usable fixations."""


class ReportFormatError(DataError):
    """A report (text or XML) could not be parsed."""


class ManifestError(DataError):
    """A dataset folder or its manifest.csv breaks the dataset contract."""


class ImportFailed(DataError):
    """An importer could not read its source dataset."""


class ConfigError(EclipError):
    """A configuration file or --set override is invalid."""


class ModelError(EclipError):
    """A model could not be built or a checkpoint could not be loaded."""


class PromptSetError(ModelError):
    """A prompt set (eclip/assets/prompts/*.json or typed prompts) is malformed or unknown."""


class TrainingError(EclipError):
    """A training run stopped for a reason the user must act on."""


class EvaluationError(EclipError):
    """An evaluation could not be run on the given inputs."""


class ReportGenerationError(EclipError):
    """A draft report could not be produced (LLM backend down, model missing...)."""
