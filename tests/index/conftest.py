"""The index tests build indexes of the same micro checkpoints as the evaluation tests."""

from evaluate.conftest import dataset_copy, micro_checkpoint, micro_checkpoint_b  # noqa: F401 (fixtures)
