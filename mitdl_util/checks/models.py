"""Compare a student's Keras model with the reference through public API only, naming the first layer that
differs (class, output shape, parameters, activation, strides, padding, kernel and pool sizes, units, filters)."""

from __future__ import annotations

from .diagnostics import describe
from .outcomes import Incorrect

# Attributes compared on layers that have them, in the order they are reported.
_ATTRIBUTES = ("filters", "units", "kernel_size", "strides", "padding", "pool_size", "rate", "activation")


def layer_summary(layer) -> dict:
    """The public facts about one layer that a check compares."""
    summary = {"class": type(layer).__name__, "output_shape": _output_shape(layer), "params": layer.count_params()}
    for attribute in _ATTRIBUTES:
        if hasattr(layer, attribute):
            value = getattr(layer, attribute)
            if attribute == "activation":
                value = getattr(value, "__name__", str(value))
            elif isinstance(value, list):
                value = tuple(value)
            summary[attribute] = value
    return summary


def _output_shape(layer):
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return tuple(shape)


def _layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def compare_models(got, expected, name: str, context: str = "") -> None:
    """Raise `Incorrect` naming the first layer where `got` differs from `expected`."""
    import keras

    where = f" for {context}" if context else ""
    if not isinstance(got, keras.Model):
        raise Incorrect(f"`{name}` returned {describe(got)}{where}; expected a `keras.Model` (e.g. `keras.Sequential([...])`).")
    if not got.built or not got.inputs:
        raise Incorrect(f"`{name}` returned a model without a known input shape{where}; start it with `keras.Input(shape=...)`.")
    got_input, expected_input = tuple(got.inputs[0].shape), tuple(expected.inputs[0].shape)
    if got_input != expected_input:
        raise Incorrect(f"`{name}`'s model takes inputs of shape {got_input}{where}; expected {expected_input}.")
    got_layers, expected_layers = _layers(got), _layers(expected)
    for index, (mine, ref) in enumerate(zip(got_layers, expected_layers, strict=False), start=1):
        a, b = layer_summary(mine), layer_summary(ref)
        if a["class"] != b["class"]:
            raise Incorrect(f"layer {index} of `{name}`'s model is a {a['class']}; expected a {b['class']} there.")
        for key in ("filters", "units", "kernel_size", "strides", "padding", "pool_size", "rate", "activation"):
            if key in b and a.get(key) != b[key]:
                raise Incorrect(f"layer {index} ({a['class']}) of `{name}`'s model has {key}={a.get(key)!r}; "
                                f"expected {key}={b[key]!r}.")
        if a["output_shape"] != b["output_shape"]:
            raise Incorrect(f"layer {index} ({a['class']}) of `{name}`'s model outputs shape {a['output_shape']}; "
                            f"expected {b['output_shape']}.")
        if a["params"] != b["params"]:
            raise Incorrect(f"layer {index} ({a['class']}) of `{name}`'s model has {a['params']:,} parameters; "
                            f"expected {b['params']:,} (check use_bias and the layer's size).")
    if len(got_layers) != len(expected_layers):
        raise Incorrect(f"`{name}`'s model has {len(got_layers)} layers after the input; expected {len(expected_layers)}.")
    if got.count_params() != expected.count_params():
        raise Incorrect(f"`{name}`'s model has {got.count_params():,} parameters; expected {expected.count_params():,}.")

