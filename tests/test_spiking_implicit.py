"""Implicit differentiation at equilibrium (spiking/implicit.py) on maps whose answer is known."""

import torch

from spiking.implicit import ImplicitEquilibrium, gmres, solve_adjoint


def linear_problem(radius: float):
    """F(z) = A z + b with spectral radius ``radius``; z* = (I - A)^{-1} b, dL/db = (I - A)^{-T} w."""
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(-radius, radius, 6, dtype=torch.float64)) @ q.T
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, dtype=torch.float64)
    eye = torch.eye(6, dtype=torch.float64)
    z_star = torch.linalg.solve(eye - a, b.detach())
    expected = torch.linalg.solve((eye - a).T, w)
    return a, b, w, z_star, expected


def test_gmres_solves_a_non_contractive_adjoint_where_fixed_point_iteration_diverges():
    a, b, w, z_star, expected = linear_problem(radius=3.0)
    solver = ImplicitEquilibrium(max_iter=20, tol=1e-12, solver="gmres")
    z = solver(lambda z: a @ z + b, z_star)
    (w * z).sum().backward()
    assert torch.allclose(b.grad, expected, atol=1e-9)  # exact in at most 6 Krylov steps
    _, residual = solve_adjoint(lambda y: a.T @ y, w, max_iter=20, tol=1e-12)
    assert residual > 1.0  # the plain iteration does not converge here


def test_fixed_point_and_gmres_agree_on_a_contraction_and_zero_iterations_is_jacobian_free():
    a, b, w, z_star, expected = linear_problem(radius=0.5)
    for solver in ("fixed_point", "gmres"):
        b.grad = None
        z = ImplicitEquilibrium(max_iter=200, tol=1e-13, solver=solver)(lambda z: a @ z + b, z_star)
        (w * z).sum().backward()
        assert torch.allclose(b.grad, expected, atol=1e-10), solver
    b.grad = None
    z = ImplicitEquilibrium(max_iter=0, tol=1e-13)(lambda z: a @ z + b, z_star)
    (w * z).sum().backward()
    assert torch.allclose(b.grad, w)  # y = g: the gradient of one application only


def test_nonlinear_map_matches_finite_differences():
    # F(z) = tanh(W z + x), contractive for ||W|| < 1; the equilibrium loss sum(z*^2) by central differences
    torch.manual_seed(2)
    weight = (0.4 * torch.randn(5, 5, dtype=torch.float64) / 5**0.5).requires_grad_()
    x = torch.randn(5, dtype=torch.float64)

    def equilibrium(weight: torch.Tensor) -> torch.Tensor:
        z = torch.zeros(5, dtype=torch.float64)
        for _ in range(500):
            z = torch.tanh(weight @ z + x)
        return z

    z = ImplicitEquilibrium(max_iter=50, tol=1e-13)(lambda z: torch.tanh(weight @ z + x), equilibrium(weight.detach()))
    (z**2).sum().backward()
    numeric = torch.zeros_like(weight)
    eps = 1e-6
    for i in range(5):
        for j in range(5):
            step = torch.zeros_like(weight)
            step[i, j] = eps
            plus = (equilibrium(weight.detach() + step) ** 2).sum()
            minus = (equilibrium(weight.detach() - step) ** 2).sum()
            numeric[i, j] = (plus - minus) / (2 * eps)
    assert torch.allclose(weight.grad, numeric, atol=1e-8)


def test_gmres_on_a_random_system():
    torch.manual_seed(3)
    matrix = torch.randn(8, 8, dtype=torch.float64) + 4 * torch.eye(8, dtype=torch.float64)
    rhs = torch.randn(8, dtype=torch.float64)
    x, residual = gmres(lambda v: matrix @ v, rhs, max_iter=8, tol=1e-12)
    assert residual < 1e-10 and torch.allclose(matrix @ x, rhs, atol=1e-9)
