from SegmentEditorEffects.AbstractScriptedSegmentEditorAutoCompleteEffect import *  # noqa: F403

from .SegmentEditorEffect import *  # noqa: F403
