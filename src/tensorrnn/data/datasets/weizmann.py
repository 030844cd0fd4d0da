"""Weizmann actions as space-time shapes (Blank et al., ICCV 2005; Gorelick et al., PAMI 2007).

10 actions (bend, jack, jump, pjump, run, side, skip, walk, wave1, wave2) by 9 actors, 180x144
at 50 fps; lena also has a second run, skip and walk (93 videos). The release is one zip per
action; the videos may sit in one folder per action or all in one::

    <root>/**/<actor>_<action>[<take>].avi     (daria_bend.avi, lena_run1.avi, lena_run2.avi)

``wave1`` (one hand) and ``wave2`` (two hands) are classes; a digit after any other action is
the take. The group is the actor, numbered in the sorted order of the actors' names
(``group_names``); the usual protocol is leave one actor out (``protocol="logo"``: fold k
tests on ``group_names[k]``).
"""
from __future__ import annotations

import os
import re

from tensorrnn import papers
from tensorrnn.data.datasets.clips import ClipRecord, VideoClipDataset
from tensorrnn.data.datasets.layout import clip_extensions, find_files, layout_error, require_root, warn_ignored

_WEIZMANN_LAYOUT = "<root>/**/<actor>_<action>[<take>].avi (e.g. bend/daria_bend.avi, run/lena_run1.avi)"
_WEIZMANN_NAME = re.compile(r"([a-z]+)_([a-z]+\d?)", re.IGNORECASE)


def parse_weizmann_name(stem: str) -> tuple[str, str] | None:
    """``(actor, action)`` of a Weizmann file name, or ``None`` if it is not one.

    Examples:
        >>> parse_weizmann_name("lena_run1"), parse_weizmann_name("ido_wave2"), parse_weizmann_name("notes")
        (('lena', 'run'), ('ido', 'wave2'), None)
    """
    match = _WEIZMANN_NAME.fullmatch(stem)
    if match is None:
        return None
    actor, action = match.group(1).lower(), match.group(2).lower()
    if action not in papers.WEIZMANN_ACTIONS and action[-1:].isdigit():
        action = action[:-1]  # the take: lena_run1, lena_run2
    return (actor, action) if action in papers.WEIZMANN_ACTIONS else None


class Weizmann(VideoClipDataset):
    """Weizmann: 10 actions, 9 actors (the groups); leave one actor out.

    Args:
        root: the folder holding the videos (in any sub-folders).
        **options: see :class:`VideoClipDataset`.

    Examples:
        >>> ds = Weizmann("weizmann")  # doctest: +SKIP
        >>> len(ds), ds.num_classes, ds.group_names[:2]
        (93, 10, ['daria', 'denis'])
    """

    name = "weizmann"

    def __init__(self, root: str | os.PathLike, **options) -> None:
        features = options.get("features", False)
        root = require_root(root, "Weizmann", _WEIZMANN_LAYOUT)
        classes = list(papers.WEIZMANN_ACTIONS)
        found, ignored = [], []
        for path in find_files(root, clip_extensions(features), recursive=True):
            parsed = parse_weizmann_name(path.stem)
            (ignored if parsed is None else found).append(path if parsed is None else (path, *parsed))
        if not found:
            raise layout_error("Weizmann", root, _WEIZMANN_LAYOUT, features)
        warn_ignored("Weizmann", root, ignored)
        #: Actor names, indexed by group id.
        self.group_names = sorted({actor for _, actor, _ in found})
        actor_index = {a: i for i, a in enumerate(self.group_names)}
        clips = [ClipRecord(path, classes.index(action), actor_index[actor]) for path, actor, action in found]
        super().__init__(root, clips, classes, **options)
