"""Nuclear-cardiology views: the LV frame, short-axis / vertical / horizontal long-axis volumes, the AHA 17-segment
polar map and its figure (METHODS section 9). Importing the package is cheap; import the submodules you need."""
