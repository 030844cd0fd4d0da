"""Modules: factorised linear layers, tensorised recurrent networks, classifiers, summary."""
# --- factorised linear layers (nn/base.py, tt.py, tr.py, bt.py, dense.py, factory.py) ---
# --- end layers ---
# --- recurrent networks, classifiers, summary (nn/rnn.py, classifier.py, summary.py) ---
# --- end rnn ---
