"""Wall maps of the three held-out maze levels (13x13; ``#`` = wall, ``.`` = free; row 0 at the top).

These are MiniMax's ``StandardMaze``, ``SixteenRooms`` and ``Labyrinth`` layouts, which groove (the
gridworld code OPEN ran) lifted unchanged; transcribed here as data from groove's
``environments/gridworld/custom_mazes.py`` (``MAZE_DESIGNS``).
There is no border wall: the grid edge is the boundary. Each map is one connected free region
(tests/test_gridworld.py checks this with a BFS).
"""

from __future__ import annotations

import numpy as np

MAZE_SIZE = 13

_MAPS = {
    "standard_maze": """
.....#....#..
.###.####.##.
.#...........
.########.###
........#....
######.#####.
....#..#.....
.##...##.####
..#.#..#...#.
#.#.##.###.#.
#.#..#...#...
#.##.###.###.
...#...#.#...
""",
    "sixteen_rooms": """
...#..#..#...
.........#...
...#..#......
#.###.##.###.
...#.........
......#..#...
##.#.##.###.#
...#.....#...
...#..#......
.####.##.#.##
...#..#..#...
......#......
...#.....#...
""",
    "labyrinth": """
.............
.###########.
.#.........#.
.#.#######.#.
.#.#.....#.#.
.#.#.###.#.#.
.#.#.#.#.#.#.
.#.#.#.#.#.#.
.#...#...#.#.
.#########.#.
.....#.....#.
####.#.#####.
.....#.......
""",
}


def maze_walls(name: str) -> np.ndarray:
    """``bool[13*13]`` wall mask of maze ``name``, flat index ``row * 13 + col``."""
    rows = _MAPS[name].strip().splitlines()
    if len(rows) != MAZE_SIZE or any(len(r) != MAZE_SIZE for r in rows):
        raise ValueError(f"maze {name!r} is not {MAZE_SIZE}x{MAZE_SIZE}")
    return np.array([c == "#" for r in rows for c in r], dtype=bool)


MAZE_NAMES = tuple(_MAPS)
