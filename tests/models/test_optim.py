import torch

from models.optim import Adam


def test_matches_torch_adam():
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours, theirs = Adam(a.parameters(), lr=1e-2), torch.optim.Adam(b.parameters(), lr=1e-2, foreach=False)
    for _ in range(20):
        x = torch.randn(8, 5)
        for net, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)
