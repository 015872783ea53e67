"""The one door to the conic solver (Clarabel, an interior-point method for QPs, second-order
and exponential cones): optimisers state their problem as blocks of rows and get the
solution or an error, never a half-converged answer.

Clarabel's form is  min ½x'Px + q'x  s.t.  Ax + s = b, s in a product of cones; the
methods below name the cones by what the rows mean, so a caller never juggles slacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import clarabel
import numpy as np
import scipy.sparse as sp

from .errors import InfeasibleConstraints, PortfolioDataError

Rows = np.ndarray | sp.spmatrix


@dataclass
class ConicProblem:
    variables: int
    quadratic: sp.spmatrix | None = None  # P, symmetric; only its upper triangle is passed on
    linear: np.ndarray | None = None  # q
    _blocks: list[tuple[list[object], sp.csr_matrix, np.ndarray]] = field(default_factory=list)

    def minimise(self, quadratic: np.ndarray | sp.spmatrix | None = None, linear: np.ndarray | None = None) -> None:
        """Objective ½x'Px + q'x (pass 2Σ to minimise x'Σx). It is scaled so its largest
        coefficient is 1: the solver's absolute tolerances assume that, and daily-return
        objectives are otherwise ~1e-4, where they would stop short of the optimum."""
        matrix = None if quadratic is None else sp.csc_matrix(quadratic)
        largest = max(abs(matrix).max() if matrix is not None and matrix.nnz else 0.0,
                      float(np.abs(linear).max()) if linear is not None and len(linear) else 0.0)
        scale = 1 / largest if largest > 0 else 1.0
        self.quadratic = None if matrix is None else sp.csc_matrix(sp.triu(matrix * scale))
        self.linear = None if linear is None else np.asarray(linear, dtype=float) * scale

    def equal(self, rows: Rows, rhs: np.ndarray | float) -> None:
        """rows·x = rhs."""
        self._add(clarabel.ZeroConeT, rows, rhs)

    def at_most(self, rows: Rows, rhs: np.ndarray | float) -> None:
        """rows·x <= rhs, row by row."""
        self._add(clarabel.NonnegativeConeT, rows, rhs)

    def norm_at_most(self, bound: float, rows: Rows, rhs: np.ndarray | None = None) -> None:
        """||rows·x - rhs|| <= bound (one second-order cone)."""
        matrix = sp.csr_matrix(rows)
        offset = np.zeros(matrix.shape[0]) if rhs is None else np.asarray(rhs, dtype=float)
        stacked = sp.vstack([sp.csr_matrix((1, self.variables)), -matrix])
        self._blocks.append(([clarabel.SecondOrderConeT(matrix.shape[0] + 1)], sp.csr_matrix(stacked),
                             np.concatenate([[bound], -offset])))

    def below_log(self, epigraph: np.ndarray, argument: Rows, constant: np.ndarray) -> None:
        """epigraph_k <= log(argument_k·x + constant_k) for each k: one exponential cone each.

        ``epigraph`` holds the column index of each bounded variable."""
        matrix = sp.csr_matrix(argument)
        count = matrix.shape[0]
        top = sp.csr_matrix((np.ones(count), (np.arange(count), epigraph)), shape=(count, self.variables))
        # Clarabel's cone {(u, v, z): v·exp(u/v) <= z}; s = b - Ax gives (t_k, 1, a_k·x + c_k).
        stacked = sp.vstack([-top, sp.csr_matrix((count, self.variables)), -matrix]).tocsr()
        order = np.arange(3 * count).reshape(3, count).T.ravel()  # interleave u, v, z per cone
        rhs = np.concatenate([np.zeros(count), np.ones(count), np.asarray(constant, dtype=float)])
        self._blocks.append(([clarabel.ExponentialConeT() for _ in range(count)], stacked[order], rhs[order]))

    def weights_within(self, lower: np.ndarray, upper: np.ndarray, cap: float, scale: int | None = None) -> None:
        """Σw = cap and lower <= w <= upper on the first n variables. With ``scale`` (a variable's
        index) the rows are homogeneous, Σw = cap·k and lower·k <= w <= upper·k, for problems
        solved in scaled variables (max Sharpe's y = k·w, risk parity's x)."""
        n = len(lower)
        identity = sp.eye(n, self.variables, format="csr")
        total = np.zeros(self.variables)
        total[:n] = 1.0
        if scale is None:
            self.equal(total[None, :], cap)
            self.at_most(identity, upper)
            self.at_most(-identity, -lower)
            return
        total[scale] = -cap
        column = sp.csr_matrix((np.ones(n), (np.arange(n), np.full(n, scale))), shape=(n, self.variables))
        self.equal(total[None, :], 0.0)
        self.at_most(identity - column.multiply(upper[:, None]), 0.0)
        self.at_most(column.multiply(lower[:, None]) - identity, 0.0)

    def solve(self, what: str) -> np.ndarray:
        """The optimal x, or InfeasibleConstraints when no x meets the rows, or a clear error naming
        ``what`` when the solver stops short of an optimum."""
        a = sp.vstack([block for _, block, _ in self._blocks]).tocsc()
        b = np.concatenate([rhs for _, _, rhs in self._blocks])
        cones = [cone for block_cones, _, _ in self._blocks for cone in block_cones]
        quadratic = self.quadratic if self.quadratic is not None else sp.csc_matrix((self.variables, self.variables))
        linear = self.linear if self.linear is not None else np.zeros(self.variables)
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.direct_solve_method = "faer"  # supernodal: our covariance blocks are dense
        if all(isinstance(cone, clarabel.ZeroConeT | clarabel.NonnegativeConeT) for cone in cones):
            # A QP converges well past the default 1e-8: at 1e-10 a bounded minimum variance
            # gains the last ~3e-6 of its objective, for a few iterations more.
            settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
        solution = clarabel.DefaultSolver(quadratic, linear, a, b, cones, settings).solve()
        status = str(solution.status)
        if status == "PrimalInfeasible":
            raise InfeasibleConstraints("constraints", f"{what} has no portfolio meeting every constraint")
        if status != "Solved":
            raise PortfolioDataError("returns", f"{what}: the solver stopped without an optimum ({status})")
        return np.array(solution.x)

    def _add(self, cone: type, rows: Rows, rhs: np.ndarray | float) -> None:
        matrix = sp.csr_matrix(np.atleast_2d(rows) if isinstance(rows, np.ndarray) else rows)
        values = np.broadcast_to(np.asarray(rhs, dtype=float), (matrix.shape[0],)).copy()
        previous = self._blocks[-1] if self._blocks else None
        if previous is not None and isinstance(previous[0][0], cone):  # one cone for neighbouring blocks
            merged = cone(previous[0][0].dim + matrix.shape[0])
            self._blocks[-1] = ([merged], sp.vstack([previous[1], matrix]).tocsr(),
                                np.concatenate([previous[2], values]))
        else:
            self._blocks.append(([cone(matrix.shape[0])], matrix, values))

