"""Boolean tasks on n-bit inputs: every input, and one target bit per input (shared by labs).

The inputs are all 2^n bit strings. Row i holds the binary digits of i, most
significant first, so ``x[i, 0]`` is the *first* bit and the truth table of a task
is its targets listed for i = 0, 1, ..., 2^n - 1.

Built-in tasks:

* ``first-bit``: y = x₀, the sprint's simple function;
* ``random-lookup``: y drawn uniformly from {0, 1} per input, fixed by ``task_seed``,
  the sprint's complex function (a lookup table with no structure);
* ``parity``: y = x₀ ⊕ x₁ ⊕ ... ⊕ x_{n-1};
* ``majority``: y = 1 when more than half of the bits are 1 (a tie, possible for
  even n, gives 0).

Any other name is a truth table given in the config as a string of 2^n characters
``0``/``1``, e.g. ``truth_tables = { xor01 = "0011110000111100..." }``.

Many random tables: ``random-lookup.k`` (k = 0, 1, ...) is the random lookup table seeded by
``task_seed + k``, so ``random-lookup.0`` is the table ``random-lookup`` draws with the same
``task_seed``. :func:`make_lookup_tables` builds K of them and :func:`expand_tasks` turns a
config's ``tasks`` with ``lookup_tables = K`` into the list of tasks to train, so that inference
can be over tables rather than about one table.

Importing this module is cheap (no torch): a lab's config imports the task names and the
checks to validate against, and ``workbench labs`` lists labs without loading torch. torch
is imported inside the functions that build tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUILTIN_TASKS",
    "Task",
    "all_inputs",
    "check_task_names",
    "check_truth_table",
    "expand_tasks",
    "lookup_table_name",
    "make_lookup_tables",
    "make_task",
    "table_index",
]

#: Separator between ``random-lookup`` and the table index: ``random-lookup.3``.
TABLE_SEPARATOR = "."

BUILTIN_TASKS: dict[str, str] = {
    "first-bit": "the first (most significant) input bit",
    "random-lookup": "a random but fixed bit per input (seeded by task_seed)",
    "parity": "the XOR of all input bits",
    "majority": "1 when more than half of the input bits are 1",
}


@dataclass(frozen=True)
class Task:
    """One task: a name, a description and its full truth table.

    Attributes:
        name: As written in the config's ``tasks``.
        description: One line for reports.
        targets: ``(2^n,)`` int64 in {0, 1}; ``targets[i]`` is the output for input i.
    """

    name: str
    description: str
    targets: torch.Tensor

    @property
    def n_bits(self) -> int:
        """Input width n (the table has 2^n rows)."""
        return int(self.targets.numel()).bit_length() - 1

    @property
    def truth_table(self) -> str:
        """The targets as a string of 0/1 characters."""
        return "".join(str(int(t)) for t in self.targets)


def all_inputs(n_bits: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Every n-bit input, most significant bit first.

    Args:
        n_bits: n >= 1.
        dtype: Output dtype; ``None`` is ``torch.float32``.

    Returns:
        ``(2^n, n)`` with ``x[i, j] = (i >> (n - 1 - j)) & 1``.
    """
    import torch

    if dtype is None:
        dtype = torch.float32
    codes = torch.arange(2**n_bits)
    shifts = torch.arange(n_bits - 1, -1, -1)
    return ((codes.unsqueeze(1) >> shifts) & 1).to(dtype)


def make_task(
    name: str,
    n_bits: int,
    *,
    task_seed: int = 0,
    truth_tables: Mapping[str, str] | None = None,
) -> Task:
    """Build a task by name.

    Args:
        name: A built-in name (:data:`BUILTIN_TASKS`) or a key of ``truth_tables``.
        n_bits: Input width n.
        task_seed: Seeds the ``random-lookup`` table (its own ``torch.Generator``).
        truth_tables: Custom tasks, name → string of 2^n characters ``0``/``1``.

    Returns:
        The task with its ``(2^n,)`` targets.

    Raises:
        ConfigError: If the name is unknown or a truth table is malformed.
    """
    import torch

    tables = dict(truth_tables or {})
    x = all_inputs(n_bits, torch.int64)
    index = table_index(name)
    if index is not None:
        gen = torch.Generator(device="cpu").manual_seed(task_seed + index)
        targets = torch.randint(0, 2, (2**n_bits,), generator=gen)
        return Task(name, f"random lookup table {index} (seeded by task_seed + {index})", targets)
    if name == "first-bit":
        targets = x[:, 0].clone()
    elif name == "random-lookup":
        gen = torch.Generator(device="cpu").manual_seed(task_seed)
        targets = torch.randint(0, 2, (2**n_bits,), generator=gen)
    elif name == "parity":
        targets = x.sum(dim=1) % 2
    elif name == "majority":
        targets = (2 * x.sum(dim=1) > n_bits).to(torch.int64)
    elif name in tables:
        table = check_truth_table(name, tables[name], n_bits)
        targets = torch.tensor([int(c) for c in table], dtype=torch.int64)
        return Task(name, f"truth table {table}", targets)
    else:
        raise ConfigError("tasks", name, _allowed_names(tables))
    return Task(name, BUILTIN_TASKS[name], targets)


def check_truth_table(name: str, table: str, n_bits: int) -> str:
    """Validate a truth table string and return it.

    Raises:
        ConfigError: Naming ``truth_tables.<name>`` when the table is not 2^n
            characters of 0 and 1, or when the name shadows a built-in task.
    """
    key = f"truth_tables.{name}"
    if name in BUILTIN_TASKS:
        raise ConfigError(key, table, f"a name other than the built-in tasks {list(BUILTIN_TASKS)}")
    if not isinstance(table, str) or len(table) != 2**n_bits or set(table) - {"0", "1"}:
        raise ConfigError(
            key,
            table,
            f"a string of exactly 2^n_bits = {2**n_bits} characters 0 or 1, "
            "the output for inputs 0, 1, ... (first bit most significant)",
        )
    return table


def check_task_names(names: Sequence[str], truth_tables: Mapping[str, str]) -> None:
    """Check that task names are known and distinct.

    Raises:
        ConfigError: For a repeated or unknown name, listing the allowed names.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError("tasks", list(names), f"distinct names; {name!r} appears twice")
        seen.add(name)
        if name not in BUILTIN_TASKS and name not in truth_tables and table_index(name) is None:
            raise ConfigError("tasks", list(names), _allowed_names(truth_tables))


def table_index(name: str) -> int | None:
    """k for a task named ``random-lookup.k`` (k a non-negative integer), else None."""
    base, sep, index = name.partition(TABLE_SEPARATOR)
    if base != "random-lookup" or not sep or not index.isdigit():
        return None
    return int(index)


def lookup_table_name(index: int) -> str:
    """``random-lookup.<index>``, the task name of the index-th random table."""
    return f"random-lookup{TABLE_SEPARATOR}{index}"


def make_lookup_tables(n_bits: int, k: int, task_seed: int = 0) -> list[Task]:
    """K independent random lookup tables on n bits: table i is seeded by ``task_seed + i``.

    Args:
        n_bits: Input width n.
        k: Number of tables, >= 1.
        task_seed: Seed of table 0.

    Returns:
        Tasks named ``random-lookup.0`` ... ``random-lookup.<k-1>``, each with ``(2^n,)`` targets.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1 lookup tables; got {k}")
    return [make_task(lookup_table_name(i), n_bits, task_seed=task_seed) for i in range(k)]


def expand_tasks(names: Sequence[str], lookup_tables: int) -> list[str]:
    """The tasks to train: ``random-lookup`` becomes K tables when ``lookup_tables = K > 1``.

    With K = 1 the list is unchanged (``random-lookup`` stays one table, seeded by
    ``task_seed``), so configs written before lookup tables existed mean what they meant.

    Args:
        names: The config's ``tasks``.
        lookup_tables: K >= 1.

    Returns:
        Task names in order, ``random-lookup`` replaced by ``random-lookup.0`` ... ``.<K-1>``.
    """
    out: list[str] = []
    for name in names:
        if name == "random-lookup" and lookup_tables > 1:
            out.extend(lookup_table_name(i) for i in range(lookup_tables))
        else:
            out.append(name)
    return out


def _allowed_names(truth_tables: Mapping[str, str]) -> str:
    custom = f", or a truth table you defined: {sorted(truth_tables)}" if truth_tables else ""
    return (
        f"task names from {list(BUILTIN_TASKS)}{custom} "
        '(define others with truth_tables = { name = "0110..." })'
    )
