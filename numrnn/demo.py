"""``numrnn demo``: forecast the next value of noisy sine waves with a fused LSTM.

Many-to-many regression: at every step the model sees the current value and
predicts the next one. The loss printed per epoch should fall well below the
variance of the noise-free signal (0.5).
"""

import time

import numpy as np
from tqdm import tqdm

import numrnn
from numrnn import functional as F
from numrnn import nn


def noisy_sines(count, steps, rng, noise=0.05):
    """``count`` sine waves of random frequency and phase, shape (steps + 1, count, 1)."""
    t = np.arange(steps + 1, dtype=np.float32)[:, None]
    freq = rng.uniform(0.05, 0.25, size=count).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=count).astype(np.float32)
    waves = np.sin(freq * t + phase) + noise * rng.standard_normal((steps + 1, count))
    return waves.astype(np.float32)[:, :, None]


class Forecaster(nn.Module):
    def __init__(self, hidden_size, rng):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, rng=rng)
        bound = 1 / np.sqrt(hidden_size)
        self.readout = nn.Parameter(
            rng.uniform(-bound, bound, size=(hidden_size, 1)).astype(np.float32))

    def forward(self, x):
        hidden, _ = self.lstm(x)
        return hidden @ self.readout


def run_demo(epochs=8, hidden_size=32, seed=0, progress=True, batch_size=32, steps=40,
             learning_rate=0.05):
    """Train, printing the mean-squared error per epoch; returns the list of epoch losses."""
    rng = np.random.default_rng(seed)
    train = noisy_sines(512, steps, rng)
    valid = noisy_sines(128, steps, rng)
    model = Forecaster(hidden_size, rng)
    velocity = {name: np.zeros_like(p.data) for name, p in model.named_parameters()}
    print(f"numrnn {numrnn.__version__}: LSTM({hidden_size}) forecasting noisy sine waves, "
          f"{epochs} epochs")
    history = []
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(train.shape[1])
        batches = range(0, len(order), batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=not progress)
        for start in bar:
            rows = order[start:start + batch_size]
            inputs = numrnn.tensor(train[:-1, rows])
            targets = train[1:, rows]
            model.zero_grad()
            loss = F.mse_loss(model(inputs), targets)
            loss.backward()
            for name, p in model.named_parameters():
                # SGD with momentum, inline: the optimisers are their own module.
                velocity[name] = 0.9 * velocity[name] + p.grad
                p.data -= learning_rate * velocity[name]
            bar.set_postfix(loss=f"{loss.item():.4f}")
        with numrnn.no_grad():
            valid_loss = F.mse_loss(model(numrnn.tensor(valid[:-1])), valid[1:]).item()
        history.append(valid_loss)
        print(f"epoch {epoch:2d}  validation MSE {valid_loss:.4f}")
    print(f"trained in {time.perf_counter() - started:.1f} s "
          f"(validation MSE {history[0]:.4f} -> {history[-1]:.4f})")
    return history
