"""Pictures: token maps of an encoder on a video or image, and accuracy-vs-compute plots of runs.

``mmlookup visualize`` (:func:`mmlookup.viz.cli.visualize_main`) and ``mmlookup plot``
(:func:`mmlookup.viz.cli.plot_main`). Matplotlib and Pillow are the optional extra ``viz``
(``pip install mmlookup[viz]``); nothing here imports them until a picture is drawn.
"""
