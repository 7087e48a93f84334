"""Reading SPECT volumes and writing results that 3D Slicer opens as they are."""
