# adam_torch.py — the torch side of bench/adam_torch.c (see there). Needs python3-torch (bench only).
import sys, math, torch
torch.set_default_dtype(torch.float64)
wd = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
p = torch.tensor([0.1*e-0.2 for e in range(5)], requires_grad=True)
q = torch.tensor([0.3-0.05*e for e in range(6)]).reshape(2,3).requires_grad_(True)
opt = (torch.optim.AdamW if wd else torch.optim.Adam)([p, q], lr=0.01, weight_decay=wd, foreach=False)
for t in range(1, 9):
    s = 5 if t % 3 == 0 else 0.2
    p.grad = torch.tensor([math.sin(1.7*e + 0.9*t + 0)*s for e in range(5)])
    q.grad = torch.tensor([math.sin(1.7*e + 0.9*t + 1)*s for e in range(6)]).reshape(2,3)
    torch.nn.utils.clip_grad_norm_([p, q], 1.0)
    opt.step()
for x in list(p.detach().flatten()) + list(q.detach().flatten()): print("%.15g" % x)
