"""The Slicer module's self-test: the end-to-end `scenario` on a scene and the simulated clinician `painting` it
paints with (the demo and the research bench's evaluations paint with the same protocols)."""
