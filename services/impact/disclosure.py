"""Statistical disclosure control: which cells of the public tables to suppress. Pure, no I/O.

A `Table` is a two-way table with its margins: cells (row, col), row totals (row, TOTAL),
column totals (TOTAL, col) and the grand total (TOTAL, TOTAL). Each cell has a value (a
count) and its number of distinct contributors. The city report publishes the column totals
and the row totals, each neighbourhood's report publishes its row: together they publish
the whole table, so one suppression pattern serves every output.

Primary suppression: a cell with a value from fewer than k distinct contributors.

Complementary suppression, against differencing: the published cells and totals are linear
equations over the table (each row and each column adds up to its total). Write every total
with a minus sign: then each row and each column is a node, each cell an edge between its
row and its column, and every node's edges add up to zero, like a flow. The suppressed
cells form a subgraph; the published values fix every suppressed cell that is a *bridge*
of that subgraph (on no cycle), and leave every cell on a cycle free to move around it.
So we suppress more cells until no suppressed cell is a bridge, choosing each time the
cheapest path of positive cells that closes a cycle through the bridge. Every suppressed cell is
positive, so moving one unit around a cycle stays non-negative: each suppressed cell has
at least two feasible integer values (the attacker's minimum and maximum differ).

Tables can share cells (the repairs' totals are the services table's repair column): a
shared cell is suppressed in every table that holds it, and the pass repeats until every
table is bridge-free. Bridge-free table by table is not enough then: together the tables are
one system of equations that is no longer a graph, and a sum the services table fixes (two
hidden repair totals whose sum is published) can split a column total of the repairs table
(the city's bike repairs) out again. So the tables sharing cells are then solved together,
exactly (integers, reduced row echelon form, as the attacker in the tests does); while a
suppressed figure is fixed, the cheapest published positive figure of its solution is
suppressed too, and the whole pass repeats. A one-way table (people per neighbourhood) is a
table with one column whose row totals are the same cells (`one_way`).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from math import gcd

TOTAL = "*"  # the margin's row or column key

Key = tuple[Hashable, Hashable]


@dataclass
class Cell:
    value: int
    contributors: int


@dataclass
class Table:
    """A two-way table with margins; `links` are (key, key) pairs that are one figure."""

    name: str
    cells: dict[Key, Cell] = field(default_factory=dict)
    links: list[tuple[Key, Key]] = field(default_factory=list)
    suppressed: set[Key] = field(default_factory=set)
    withheld: bool = False  # too small to publish any figure of it
    forced: set[Key] = field(default_factory=set)  # hidden by another table: hidden here
    published_elsewhere: set[Key] = field(default_factory=set)  # never chosen as a complement

    def is_suppressed(self, row: Hashable, col: Hashable) -> bool:
        return (row, col) in self.suppressed

    @property
    def rows(self) -> set[Hashable]:
        return {r for r, _ in self.cells} | {TOTAL}

    @property
    def cols(self) -> set[Hashable]:
        return {c for _, c in self.cells} | {TOTAL}


def two_way(
    name: str,
    cells: dict[Key, tuple[int, int]],
    row_totals: dict[Hashable, tuple[int, int]],
    col_totals: dict[Hashable, tuple[int, int]],
    grand: tuple[int, int],
) -> Table:
    """A table from (value, contributors) of its cells, row totals, column totals, total."""
    table = Table(name)
    for key, (value, people) in cells.items():
        table.cells[key] = Cell(value, people)
    for row, (value, people) in row_totals.items():
        table.cells[(row, TOTAL)] = Cell(value, people)
    for col, (value, people) in col_totals.items():
        table.cells[(TOTAL, col)] = Cell(value, people)
    table.cells[(TOTAL, TOTAL)] = Cell(*grand)
    return table


ONE = "all"  # the one column of a one-way table


def one_way(name: str, cells: dict[Hashable, tuple[int, int]], total: tuple[int, int]) -> Table:
    """A list of cells and their total (e.g. active members per neighbourhood)."""
    table = two_way(name, {(r, ONE): c for r, c in cells.items()}, dict(cells), {ONE: total}, total)
    table.links = [((r, ONE), (r, TOTAL)) for r in cells] + [((TOTAL, ONE), (TOTAL, TOTAL))]
    return table


def primary(table: Table, k: int) -> set[Key]:
    """Cells with a value from fewer than k distinct contributors (a true zero points at
    nobody and is published)."""
    return {key for key, cell in table.cells.items() if cell.value and cell.contributors < k}


def protect(
    tables: Iterable[Table],
    k: int,
    shared: Iterable[tuple[tuple[Table, Key], tuple[Table, Key]]] = (),
) -> None:
    """Set `suppressed` on every table: primary cells, then complements until no
    suppressed cell can be solved from the published ones (see the module docstring)."""
    tables = list(tables)
    shared = list(shared)
    for table in tables:
        table.suppressed = primary(table, k) | table.forced
    # One table alone: its bridges are exactly its solvable cells. Tables that share cells
    # are one system of equations, where a sum fixed in one table can split a cell out of
    # the other: that system is solved exactly once they are bridge-free.
    ids = {id(t) for pair in shared for t, _ in pair}
    joined = [t for t in tables if id(t) in ids]
    while True:
        changed = _spread_links(tables, shared)
        for table in tables:
            while (bridge := _a_bridge(table)) is not None:
                _close_cycle(table, bridge)
                changed = True
        if changed or _spread_links(tables, shared):
            continue
        if not joined or not _hide_a_witness(joined, shared):
            return


def _spread_links(tables: list[Table], shared) -> bool:
    changed = False
    again = True
    while again:
        again = False
        pairs = [((t, a), (t, b)) for t in tables for a, b in t.links] + shared
        for (ta, a), (tb, b) in pairs:
            if (a in ta.suppressed) != (b in tb.suppressed):
                ta.suppressed.add(a)
                tb.suppressed.add(b)
                again = changed = True
    return changed


def _graph(edges: Iterable[Key]) -> dict[tuple[str, Hashable], list[tuple[tuple, Key]]]:
    graph: dict[tuple[str, Hashable], list[tuple[tuple, Key]]] = {}
    for key in edges:
        r, c = ("r", key[0]), ("c", key[1])
        graph.setdefault(r, []).append((c, key))
        graph.setdefault(c, []).append((r, key))
    return graph


def bridges(edges: Iterable[Key]) -> list[Key]:
    """The edges on no cycle of the graph whose nodes are rows and columns (Tarjan)."""
    graph = _graph(edges)
    order: dict = {}
    low: dict = {}
    found: list[Key] = []
    for root in graph:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, None, iter(graph[root]))]
        while stack:
            node, via, neighbours = stack[-1]
            advanced = False
            for nxt, key in neighbours:
                if key == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, key, iter(graph[nxt])))
                    advanced = True
                    break
            if advanced:
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    found.append(via)
    return sorted(found, key=repr)


def _a_bridge(table: Table) -> Key | None:
    if table.withheld:
        return None
    found = bridges(table.suppressed)
    return found[0] if found else None


def _close_cycle(table: Table, bridge: Key) -> None:
    """Suppress the cheapest path of published positive cells that closes a cycle through
    `bridge` (cost: the values hidden; suppressed cells are free), as in the classic
    shortest-path heuristics of cell suppression. No path: the table is withheld."""
    start, goal = ("r", bridge[0]), ("c", bridge[1])
    graph: dict[tuple[str, Hashable], list[tuple[int, tuple[str, Hashable], Key]]] = {}
    for key, cell in sorted(table.cells.items(), key=lambda kv: repr(kv[0])):
        if key == bridge:
            continue
        if key in table.suppressed:
            cost = 0
        elif key in table.published_elsewhere:
            continue  # anyone can read it in another output: hiding it here hides nothing
        elif cell.value > 0:
            cost = cell.value
        else:
            continue  # a published zero cannot hide anything
        r, c = ("r", key[0]), ("c", key[1])
        graph.setdefault(r, []).append((cost, c, key))
        graph.setdefault(c, []).append((cost, r, key))
    best: dict = {start: 0}
    came: dict = {}
    heap = [(0, 0, start)]
    counter = 1
    while heap:
        cost, _, node = heapq.heappop(heap)
        if node == goal:
            break
        if cost > best.get(node, cost):
            continue
        for step, nxt, key in graph.get(node, []):
            if cost + step < best.get(nxt, cost + step + 1):
                best[nxt] = cost + step
                came[nxt] = (node, key)
                heapq.heappush(heap, (cost + step, counter, nxt))
                counter += 1
    if goal not in came:
        # Nothing positive closes a cycle: the table is too small to publish.
        table.suppressed |= set(table.cells)
        table.withheld = True
        return
    node = goal
    while node != start:
        node, key = came[node]
        table.suppressed.add(key)


# --- tables sharing cells: one system of equations ---------------------------------------------

Var = tuple[int, Key]  # (index of the table, key): one representative per shared figure


def _solved(tables: list[Table], shared) -> dict[Var, list[Var]]:
    """The suppressed figures the published ones fix, over every table at once (each row and
    column adds up to its total; linked and shared keys are one figure): for each, the cells
    of the published figures that fix it (the rest of its row in the reduced row echelon
    form, exact fractions)."""
    parent: dict[Var, Var] = {}

    def find(v: Var) -> Var:
        while parent.get(v, v) != v:
            v = parent[v]
        return v

    def union(a: Var, b: Var) -> None:
        a, b = find(a), find(b)
        if a != b:
            parent[max(a, b, key=repr)] = min(a, b, key=repr)

    index = {id(t): i for i, t in enumerate(tables)}
    for i, table in enumerate(tables):
        for a, b in table.links:
            union((i, a), (i, b))
    for (ta, a), (tb, b) in shared:
        union((index[id(ta)], a), (index[id(tb)], b))
    hidden = {find((i, key)) for i, t in enumerate(tables) for key in t.suppressed}
    cells: dict[Var, list[Var]] = {}  # a figure -> the cells that hold it
    equations: list[dict[Var, int]] = []
    for i, table in enumerate(tables):
        lines: dict[tuple[str, Hashable], dict[Var, int]] = {}
        for r, c in table.cells:
            v = find((i, (r, c)))
            cells.setdefault(v, []).append((i, (r, c)))
            for line, sign in (
                (("r", r), -1 if c == TOTAL else 1),
                (("c", c), -1 if r == TOTAL else 1),
            ):
                eq = lines.setdefault(line, {})
                eq[v] = eq.get(v, 0) + sign
        for eq in lines.values():
            if any(x and v in hidden for v, x in eq.items()):
                equations.append({v: x for v, x in eq.items() if x})
    # Which are fixed needs the suppressed figures only; the published ones are carried
    # along (to name the witnesses) only when some figure is fixed: the rare case.
    only_hidden = [{v: x for v, x in eq.items() if v in hidden} for eq in equations]
    if not any(len(row) == 1 for row in _reduced(only_hidden, hidden).values()):
        return {}
    return {
        v: [cell for w in row if w != v for cell in cells[w]]
        for v, row in _reduced(equations, hidden).items()
        if not any(w in hidden for w in row if w != v)
    }


def _reduced(equations: list[dict[Var, int]], hidden: set[Var]) -> dict[Var, dict[Var, int]]:
    """The reduced row echelon form of `equations`, pivoting on `hidden` figures only: pivot
    figure -> its row, up to a factor (exact integers, each row divided by its gcd)."""
    pivots: dict[Var, dict[Var, int]] = {}

    def minus(row: dict[Var, int], pivot: Var) -> dict[Var, int]:
        """`row` without `pivot`: lead * row - factor * (the pivot's row), gcd divided."""
        other = pivots[pivot]
        lead, factor = other[pivot], row[pivot]
        out = {v: x * lead for v, x in row.items()}
        for w, x in other.items():
            out[w] = out.get(w, 0) - factor * x
        out = {v: x for v, x in out.items() if x}
        divisor = gcd(*out.values()) if out else 1
        return {v: x // divisor for v, x in out.items()}

    for equation in equations:
        eq = {v: x for v, x in equation.items() if x}
        for v in [v for v in eq if v in pivots]:
            eq = minus(eq, v)
        unknown = [v for v in eq if v in hidden]
        if not unknown:
            continue
        pivot = min(unknown, key=repr)
        pivots[pivot] = eq
        for v, row in pivots.items():
            if v != pivot and row.get(pivot):
                pivots[v] = minus(row, pivot)
    return pivots


def _hide_a_witness(tables: list[Table], shared) -> bool:
    """If some suppressed figure can be solved from all the tables together, suppress the
    cheapest published positive figure of its solution (or withhold the figure's tables when
    there is none) and say so; False when none can be solved."""
    solved = _solved(tables, shared)
    if not solved:
        return False
    figure, witnesses = min(solved.items(), key=lambda kv: repr(kv[0]))
    candidates = [
        (tables[i].cells[key].value, repr((i, key)), i, key)
        for i, key in witnesses
        if tables[i].cells[key].value > 0 and key not in tables[i].published_elsewhere
    ]
    if candidates:
        _, _, i, key = min(candidates)
        tables[i].suppressed.add(key)
        return True
    # Only zeros and figures shown elsewhere give it away: withhold the tables involved
    # (a witness's table still publishes it, so this always hides something more).
    for i in {figure[0]} | {i for i, _ in witnesses}:
        tables[i].suppressed |= set(tables[i].cells)
        tables[i].withheld = True
    return True
