"""Eye-gaze fixations -> heatmaps, with the recipes of the two public chest X-ray gaze sets.

Fixations
    A DataFrame with columns ``x, y`` (native image pixels), ``duration`` and ``start``
    (seconds), ``ppd_x, ppd_y`` (image pixels per degree of visual angle; NaN for EGD-CXR,
    which does not record it). REFLACX readings also carry ``shown_xmin, shown_xmax,
    shown_ymin, shown_ymax``: the part of the image on screen during the fixation (optional;
    without them the whole image counts as shown).

Pixel-centre convention (used everywhere in this module)
    ``x, y`` are pixel *index* coordinates: the native pixel in row i, column j has its centre
    at (x=j, y=i) and covers [j-0.5, j+0.5) x [i-0.5, i+0.5), so the image spans
    [-0.5, W-0.5] x [-0.5, H-0.5]. This is numpy's grid (a blurred delta at [i, j] peaks at
    [i, j]) and the grid REFLACX evaluates its Gaussians on.
    A working grid of shape (h, w) cuts the same image area into h x w pixels, the geometry
    every common resizer uses (PIL, skimage, OpenCV: working centre q maps to native
    (q + 0.5)/s - 0.5): working column q covers native [q/s - 0.5, (q+1)/s - 0.5) with
    s = w / W (per axis). So a fixation at native (x, y) sits at working
    ((x + 0.5) * s_x - 0.5, (y + 0.5) * s_y - 0.5). A heatmap value on the working grid is
    the *mean of the native heatmap over that footprint*, i.e. what resizing the
    native-resolution heatmap by exact area averaging would give. Each Gaussian is
    integrated over the footprints analytically (separable, via the normal CDF), so a
    3000 x 2500 native grid is never allocated. Pass the stored image's shape as out_shape
    and the heatmap aligns with it pixel for pixel.

Recipes
    EGD-CXR: +1 per fixation (no duration weight), Gaussian sigma 150 native pixels,
    boundary handled like ``scipy.ndimage.gaussian_filter``'s default (mirror at the image
    edge, so no mass is lost). Values are per-native-pixel densities (not normalised).
    REFLACX: one Gaussian per fixation with sigma = 1 degree (the row's pixels-per-degree,
    x and y separately), weighted by the fixation's duration, drawn only over the region
    shown on screen (mass outside it is dropped, as REFLACX's code does), normalised to
    sum 1.
"""

from eclip.data.gaze.fixations import (EGD_COLUMNS, EGD_PAD_COLUMNS, EGD_REQUIRED, EGD_SCREEN, EGD_SIGMA,
                                       FIXATION_COLUMNS, REFLACX_COLUMNS, REFLACX_REQUIRED,
                                       SHOWN_COLUMNS, read_egd_fixations, read_egd_padding,
                                       read_reflacx_fixations, write_reflacx_fixations)
from eclip.data.gaze.heatmaps import (average_heatmaps, heatmap_egd, heatmap_reflacx, load_heatmap,
                                      load_readings, readings_dir, resize_heatmap, save_heatmap,
                                      save_readings)

__all__ = ["EGD_COLUMNS", "EGD_PAD_COLUMNS", "EGD_REQUIRED", "EGD_SCREEN", "EGD_SIGMA", "FIXATION_COLUMNS",
           "REFLACX_COLUMNS", "REFLACX_REQUIRED", "SHOWN_COLUMNS", "average_heatmaps", "heatmap_egd",
           "heatmap_reflacx", "load_heatmap", "load_readings", "read_egd_fixations", "read_egd_padding",
           "read_reflacx_fixations", "readings_dir", "resize_heatmap", "save_heatmap", "save_readings",
           "write_reflacx_fixations"]
