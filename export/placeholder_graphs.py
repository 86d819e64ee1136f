"""Build the placeholder graphs: tiny, hand-written, contract-conformant ONNX models (no torch, no training).

They let the runtime, its tests and the CLI run end to end before the trained models of the model issue land.
They are NOT trained and their scores are NOT quality assessments a reader can trust:

- ``classifier-placeholder.onnx``: modality from two image statistics (colour = ``mean|ch0 - ch2|``, which
  only RGB photographs have; HU-ness = the minimum of the absolute-intensity channel, about -1 where a
  CT shows air at -1000 HU); region and type are uninformative (small fixed biases towards ``other``,
  ``soft_window``, ``other_mr``, ``color``).
- ``scorer-placeholder.onnx``: a noise heuristic in the paper's output structure. Per 28x28 patch ``p`` of
  channel 0: noise ``n_p`` = mean absolute Laplacian, score ``s_p = 1 / (1 + (n_p / n_ref)^2)``, weight
  ``w_p`` = mean foreground level ``relu(x + 0.9)`` + 1e-3; slice score ``q = sum w_p s_p / sum w_p``; slice
  weights = foreground share of each slice (sum to 1); ``Q = sum_i w_i q_i``; both physics outputs = ``Q``.

Run ``python -m mediqa_sdk.export.placeholder_graphs`` (or ``python export/placeholder_graphs.py``) to rebuild
the graphs and update their records in ``models.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SIZE = 224
NOISE_REF = 0.06  # mean |Laplacian| (normalised units) that scores 0.5; CT soft-tissue slices sit near 0.02
VOCAB = {
    "dim": ["2d", "3d"],
    "modality": ["ct", "mr", "fundus"],
    "region": ["head", "chest", "abdomen", "breast", "eye", "other"],
    "type": [
        "lung_window",
        "soft_window",
        "brain_window",
        "bone_window",
        "t1",
        "t2",
        "flair",
        "pd",
        "other_mr",
        "color",
    ],
}


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def build_classifier() -> onnx.ModelProto:
    """Placeholder prompt classifier: image [N,3,224,224] -> modality/region/type logits."""
    n_mod, n_reg, n_typ = (len(VOCAB[k]) for k in ("modality", "region", "type"))
    inits = [
        _const("c0", np.array([0], np.int64)),
        _const("c1", np.array([1], np.int64)),
        _const("c2", np.array([2], np.int64)),
        _const("c3", np.array([3], np.int64)),
        _const("ax1", np.array([1], np.int64)),
        _const("k_col", np.array(40.0, np.float32)),
        _const("t_col", np.array(0.05, np.float32)),
        _const("k_hu", np.array(10.0, np.float32)),
        _const("t_hu", np.array(-0.75, np.float32)),
        _const("zero", np.array(0.0, np.float32)),
        _const("region_bias", np.array([[0, 0, 0, 0, -2.0, 0.1]], np.float32)),
        _const("type_bias", np.array([[0, 0.1, 0, 0, 0, 0, 0, 0, 0.1, 0.1]], np.float32)),
        _const("zeros_reg", np.zeros((1, n_reg), np.float32)),
    ]
    nodes = [
        helper.make_node("Slice", ["image", "c0", "c1", "ax1"], ["ch0"]),
        helper.make_node("Slice", ["image", "c1", "c2", "ax1"], ["ch1"]),
        helper.make_node("Slice", ["image", "c2", "c3", "ax1"], ["ch2"]),
        helper.make_node("Sub", ["ch0", "ch2"], ["d02"]),
        helper.make_node("Abs", ["d02"], ["ad02"]),
        helper.make_node("ReduceMean", ["ad02"], ["colour"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("ReduceMin", ["ch1"], ["hmin"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Flatten", ["colour"], ["colour_f"], axis=1),
        helper.make_node("Flatten", ["hmin"], ["hmin_f"], axis=1),
        # fundus = k_col * (colour - t_col); ct = k_hu * (t_hu - hmin); mr = -ct
        helper.make_node("Sub", ["colour_f", "t_col"], ["col_c"]),
        helper.make_node("Mul", ["col_c", "k_col"], ["fundus_logit"]),
        helper.make_node("Sub", ["t_hu", "hmin_f"], ["hu_c"]),
        helper.make_node("Mul", ["hu_c", "k_hu"], ["ct_logit"]),
        helper.make_node("Neg", ["ct_logit"], ["mr_logit"]),
        helper.make_node("Concat", ["ct_logit", "mr_logit", "fundus_logit"], ["modality"], axis=1),
        # region/type: fixed biases broadcast to [N, R] / [N, T]
        helper.make_node("Mul", ["colour_f", "zero"], ["nzero"]),
        helper.make_node("Add", ["nzero", "region_bias"], ["region"]),
        helper.make_node("Add", ["nzero", "type_bias"], ["type"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mediqa_classifier_placeholder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("modality", TensorProto.FLOAT, ["N", n_mod]),
            helper.make_tensor_value_info("region", TensorProto.FLOAT, ["N", n_reg]),
            helper.make_tensor_value_info("type", TensorProto.FLOAT, ["N", n_typ]),
        ],
        [i for i in inits if i.name != "zeros_reg"],
    )
    return _finish(graph, "placeholder prompt classifier (not trained)")


def build_scorer() -> onnx.ModelProto:
    """Placeholder scorer: slices [B,S,3,224,224], prompt [B,P] -> the four scorer outputs."""
    p = sum(len(v) for v in VOCAB.values())
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32).reshape(1, 1, 3, 3) / 4.0
    inits = [
        _const("c0", np.array([0], np.int64)),
        _const("c1", np.array([1], np.int64)),
        _const("c2", np.array([2], np.int64)),
        _const("ax2", np.array([2], np.int64)),
        _const("ax123", np.array([1, 2, 3], np.int64)),
        _const("img_shape", np.array([-1, 1, SIZE, SIZE], np.int64)),
        _const("lap", lap),
        _const("n_ref", np.array(NOISE_REF, np.float32)),
        _const("one", np.array(1.0, np.float32)),
        _const("fg_off", np.array(0.9, np.float32)),
        _const("eps", np.array(1e-3, np.float32)),
    ]
    nodes = [
        helper.make_node("Slice", ["slices", "c0", "c1", "ax2"], ["ch0"]),  # [B,S,1,H,W]
        helper.make_node("Reshape", ["ch0", "img_shape"], ["x"]),  # [B*S,1,H,W]
        helper.make_node("Conv", ["x", "lap"], ["hp"], pads=[1, 1, 1, 1]),
        helper.make_node("Abs", ["hp"], ["ahp"]),
        helper.make_node("AveragePool", ["ahp"], ["noise"], kernel_shape=[28, 28], strides=[28, 28]),
        helper.make_node("Div", ["noise", "n_ref"], ["nr"]),
        helper.make_node("Mul", ["nr", "nr"], ["nr2"]),
        helper.make_node("Add", ["nr2", "one"], ["den"]),
        helper.make_node("Reciprocal", ["den"], ["s_patch"]),  # [B*S,1,8,8]
        helper.make_node("Add", ["x", "fg_off"], ["xo"]),
        helper.make_node("Relu", ["xo"], ["fg"]),
        helper.make_node("AveragePool", ["fg"], ["fgp"], kernel_shape=[28, 28], strides=[28, 28]),
        helper.make_node("Add", ["fgp", "eps"], ["w_patch"]),
        helper.make_node("Mul", ["w_patch", "s_patch"], ["ws"]),
        helper.make_node("ReduceSum", ["ws", "ax123"], ["ws_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["w_patch", "ax123"], ["w_sum"], keepdims=0),
        helper.make_node("Div", ["ws_sum", "w_sum"], ["q_flat"]),  # [B*S]
        helper.make_node("Shape", ["slices"], ["shp"]),
        helper.make_node("Slice", ["shp", "c0", "c2"], ["bs"]),  # [B,S]
        helper.make_node("Reshape", ["q_flat", "bs"], ["slice_scores"]),
        helper.make_node("Reshape", ["w_sum", "bs"], ["fg_mass"]),
        helper.make_node("ReduceSum", ["fg_mass", "c1"], ["fg_total"], keepdims=1),
        helper.make_node("Div", ["fg_mass", "fg_total"], ["slice_weights"]),
        helper.make_node("Mul", ["slice_weights", "slice_scores"], ["wq"]),
        helper.make_node("ReduceSum", ["wq", "c1"], ["score"], keepdims=0),  # [B]
        helper.make_node("Unsqueeze", ["score", "c1"], ["score_col"]),
        helper.make_node("Concat", ["score_col", "score_col"], ["physics"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mediqa_scorer_placeholder",
        [
            helper.make_tensor_value_info("slices", TensorProto.FLOAT, ["B", "S", 3, SIZE, SIZE]),
            helper.make_tensor_value_info("prompt", TensorProto.FLOAT, ["B", p]),
        ],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["B"]),
            helper.make_tensor_value_info("slice_scores", TensorProto.FLOAT, ["B", "S"]),
            helper.make_tensor_value_info("slice_weights", TensorProto.FLOAT, ["B", "S"]),
            helper.make_tensor_value_info("physics", TensorProto.FLOAT, ["B", 2]),
        ],
        inits,
    )
    return _finish(graph, "placeholder scorer (noise heuristic, not trained)")


def _finish(graph: onnx.GraphProto, doc: str) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mediqa-sdk placeholder_graphs"
    )
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model, full_check=True)
    return model


def write(repo: Path) -> dict[str, dict[str, object]]:
    """Write both graphs into ``mediqa_sdk/models/`` and update their records in ``models.json``."""
    models_dir = repo / "mediqa_sdk" / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    registry_file = repo / "models.json"
    registry = json.loads(registry_file.read_text())
    out: dict[str, dict[str, object]] = {}
    for file, model in (
        ("classifier-placeholder.onnx", build_classifier()),
        ("scorer-placeholder.onnx", build_scorer()),
    ):
        data = model.SerializeToString(deterministic=True)
        (models_dir / file).write_bytes(data)
        facts = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for record in registry["models"]:
            if record["file"] == file:
                record.update(facts)
        out[file] = facts
    registry_file.write_text(json.dumps(registry, indent=2) + "\n")
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    for name, facts in write(root).items():
        print(f"{name}: {facts['size']} bytes, sha256 {facts['sha256']}")
