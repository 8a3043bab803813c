"""Editor support: `analysis` answers what an editor asks about a spec's text (diagnostics, hover,
definitions, completions) without any protocol; `server` speaks the Language Server Protocol
(pygls) over stdio and runs analyses off its event loop. Neither imports TensorFlow or Keras."""
