"""Staged LV landmark localisation: find the LV (heart_search), estimate its own frame (lv_frame), carry a template's
landmarks over in that frame (carry), and the LV long axis as a product output (long_axis); `staged` runs them."""
