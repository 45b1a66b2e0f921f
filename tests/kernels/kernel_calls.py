"""The kernels' one contract (numrnn.kernels.recurrent), called with separate arrays.

The kernel tests build their problems as separate arrays (x, h0, c0, the four
weights); these adapters pack them into the contract's ``states`` and
``weights`` tuples and unpack the results, so each test reads as it did.
"""

from numrnn.kernels import elman, elman_backward, gru, gru_backward, lstm, lstm_backward

# Each forward module's backward module.
BACKWARD = {gru: gru_backward, elman: elman_backward}


def lstm_train(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
               reverse=False):
    """``(output, h_n, c_n, gates, cells)``."""
    output, (h_n, c_n), (_, gates, cells) = lstm.forward_train(
        x, (h0, c0), (weight_ih, weight_hh, bias_ih, bias_hh), lengths, reverse)
    return output, h_n, c_n, gates, cells


def lstm_infer(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
               reverse=False):
    """``(output, h_n, c_n)``."""
    output, (h_n, c_n) = lstm.forward_infer(x, (h0, c0), (weight_ih, weight_hh, bias_ih, bias_hh),
                                            lengths, reverse)
    return output, h_n, c_n


def lstm_back(grad_output, grad_h_n, grad_c_n, x, h0, c0, weight_ih, weight_hh, output, gates,
              cells, lengths=None, reverse=False, needed=None):
    """The seven gradients: x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh."""
    return lstm_backward.backward(grad_output, (grad_h_n, grad_c_n), x, (h0, c0),
                                  (weight_ih, weight_hh, None, None), (output, gates, cells),
                                  lengths, reverse, None, needed)


def _options(nonlinearity):
    return None if nonlinearity is None else {"nonlinearity": nonlinearity}


def one_state_train(kernels, x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
                    lengths=None, reverse=False, nonlinearity=None):
    """GRU or Elman: ``(output, h_n, saved)``."""
    output, (h_n,), saved = kernels.forward_train(
        x, (h0,), (weight_ih, weight_hh, bias_ih, bias_hh), lengths, reverse,
        _options(nonlinearity))
    return output, h_n, saved


def one_state_infer(kernels, x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
                    lengths=None, reverse=False, nonlinearity=None):
    """GRU or Elman: ``(output, h_n)``."""
    output, (h_n,) = kernels.forward_infer(x, (h0,), (weight_ih, weight_hh, bias_ih, bias_hh),
                                           lengths, reverse, _options(nonlinearity))
    return output, h_n


def one_state_back(kernels, grad_output, grad_h_n, x, weight_ih, weight_hh, saved, lengths=None,
                   reverse=False, nonlinearity=None, needs=None):
    """GRU or Elman: the six gradients x, h0, weight_ih, weight_hh, bias_ih, bias_hh.

    The backward kernels read no initial state (they saved what they need), so
    a placeholder of the right shape stands for it.
    """
    h0 = grad_h_n
    return BACKWARD[kernels].backward(grad_output, (grad_h_n,), x, (h0,),
                            (weight_ih, weight_hh, None, None), saved, lengths, reverse,
                            _options(nonlinearity), needs)


__all__ = ["elman", "gru", "lstm_back", "lstm_infer", "lstm_train", "one_state_back",
           "one_state_infer", "one_state_train"]
