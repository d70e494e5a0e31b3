"""The files the command reads and writes: structure files, folders of them, output paths."""

from __future__ import annotations

from pathlib import Path

from .report import Reporter, UsageError, describe


def input_files(paths, report: Reporter) -> list[Path]:
    """The files named, with each folder replaced by its visible files in name order.

    Parameters
    ----------
    paths : sequence of str or path-like
        The ``PATH`` arguments.
    report : Reporter
        Told about each path that does not exist and each folder without files.

    Returns
    -------
    list of pathlib.Path
    """
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                entry
                for entry in path.iterdir()
                if entry.is_file() and not entry.name.startswith(".")
            )
            if not found:
                report.failed(path, "the folder holds no files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            report.failed(path, "no such file or folder")
    return files


def read_structures(files, report: Reporter):
    """``(names, structures)`` of the files pymatgen reads; the others are reported.

    Parameters
    ----------
    files : sequence of pathlib.Path
    report : Reporter
        Told about each file that does not parse or is no usable crystal, and shown
        the readers' warnings, each naming its file.

    Returns
    -------
    names : list of str
        The paths of the files read, in input order.
    structures : list of pymatgen.core.Structure
        Their structures, checked by :func:`dos_estimators.structures.as_structure`.
    """
    from pymatgen.core import Structure

    from ..structures import as_structure

    names, structures = [], []
    for path in files:
        with report.warnings_of(path):
            try:
                parsed = Structure.from_file(path)
            # pymatgen's parsers raise many exception types on a malformed file; any of
            # them means this one file is skipped, with the reason shown.
            except Exception as error:
                report.failed(path, f"cannot read a structure ({describe(error)})")
                continue
            # A file that parses but is no usable crystal (disordered, overlapping atoms,
            # a degenerate cell, ...) is reported with the check's own message.
            try:
                structure = as_structure(parsed)
            except ValueError as error:
                report.failed(path, str(error))
                continue
        names.append(str(path))
        structures.append(structure)
    return names, structures


def check_output_folder(path, option: str) -> None:
    """Refuse an output path whose folder does not exist, before any work is done.

    Parameters
    ----------
    path : str or path-like
        The file or folder the command will write.
    option : str
        The option that gave it (``--out``), named in the message.

    Raises
    ------
    UsageError
        If the folder that would hold ``path`` does not exist.
    """
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {parent} does not exist.")
