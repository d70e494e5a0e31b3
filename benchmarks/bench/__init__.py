"""What the benchmark scripts share, one module per job.

Each row of the paper's tables is a key of :data:`bench.models.MODELS`;
:func:`bench.models.build` makes its estimator from the command line (options of
:mod:`bench.cli`), :func:`bench.fits.run_row` fits and measures it. Every fit is
stored as one JSON file (:func:`bench.rows.save_row`, named by
:func:`bench.rows.row_name` or the script's own name), and each script's ``--report``
builds its Markdown tables from those files alone and writes them between markers of
a docs page (:func:`bench.reports.write_docs_block`). The phonon, OOD and electron
scripts keep only what is their own: the name of a row
(:func:`bench.rows.row_file_name`), what a fit measures beyond ``run_row``, and their
tables (:func:`bench.reports.model_table`); loading the rows, running the fits that are
not stored (:func:`bench.runs.run_seeds`) and ``--report``
(:func:`bench.reports.publish_report`) are done here.

- :mod:`bench.models`: the table's rows and their estimators.
- :mod:`bench.cli`: the command-line options of the scripts that fit rows.
- :mod:`bench.fits`: the splits, fitting and measuring one model or many.
- :mod:`bench.rows`: one JSON file per fit: names, records, loading.
- :mod:`bench.runs`: resumable runs of the scripts that store a row per fit.
- :mod:`bench.reports`: Markdown tables and the docs pages' blocks.
- :mod:`bench.measure`: scripts that measure and keep one JSON file.
- :mod:`bench.thermo_rows`: C_V and S of the test crystals, stored in the phonon rows.

The scripts run as ``python benchmarks/NAME.py``, with ``benchmarks/`` first on the
path, and import ``from bench.MODULE import NAME``.
"""
