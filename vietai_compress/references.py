"""Published numbers the notebooks compare against, each with its source, in one place.

Notebook 07 (Hinton et al. 2015) prints its results beside ``HINTON_2015``.
"""
from __future__ import annotations

HINTON_2015 = "Hinton, Vinyals, Dean (2015), Distilling the Knowledge in a Neural Network, arXiv:1503.02531"

# MNIST test errors (out of 10,000) reported in HINTON_2015, section 3.
HINTON_MNIST_ERRORS = {
    "teacher": 67,  # 784-1200-1200-10, dropout, inputs jittered by up to 2 pixels
    "student_alone": 146,  # 784-800-800-10, no regularisation
    "student_distilled": 74,  # the same student, soft targets of the teacher at T = 20
    "no_threes": 206,  # distilled on a transfer set without any 3 ...
    "no_threes_on_threes": 133,  # ... of which errors on the 1,010 test 3s
    "no_threes_corrected": 109,  # after raising the bias of class 3 (by 3.5) ...
    "no_threes_corrected_on_threes": 14,  # ... of which errors on 3s
}
HINTON_DISTILL_T = 20.0  # the temperature of the 800-800 result
TEST_THREES = 1010  # 3s among MNIST's 10,000 test images

DEEP_COMPRESSION = "Han, Mao, Dally (2016), Deep Compression, ICLR, Table 1 and Table 2"

# Deep Compression's LeNet-5 row (Caffe's LeNet-5, 431K weights, 1720 KB): per-layer weights kept after
# pruning and bits per shared weight, the compression ratio and the test errors before and after.
DEEP_COMPRESSION_LENET5 = {
    "keep": {"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19},
    "bits": {"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5},
    "ratio": 39.0, "error": 0.74, "base_error": 0.80,
}
# LeNet-300-100: 40x at 1.58% (base 1.64%), keeping fc1 8%, fc2 9%, fc3 26% of the weights.
DEEP_COMPRESSION_LENET300 = {"keep": {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26}, "ratio": 40.0, "error": 1.58,
                             "base_error": 1.64}

# Later methods on the same networks (compression ratio, test error %), as their papers report them, labelled for
# the notebooks' figures: dynamic network surgery's ratio counts parameters (431K -> 4K), not bytes.
LATER_LENET5 = {
    "Dynamic network surgery (Guo et al. 2016), theo số tham số": (108.0, 0.91),
    "Soft weight-sharing (Ullrich et al. 2017)": (162.0, 0.97),
}

# Later methods on LeNet-300-100 (ratio, test error %), labelled for notebook 09's figure (in Vietnamese).
# Soft weight-sharing's ratio counts the bytes of its stored model; dynamic network surgery's counts parameters
# (267K -> 4.8K), not bytes. Variational dropout (Molchanov et al. 2017) reports only fewer parameters, so it
# is not on a bytes axis.
LATER_LENET300 = {
    "Dynamic network surgery (Guo et al. 2016), theo số tham số": (56.0, 1.99),
    "Soft weight-sharing (Ullrich et al. 2017)": (64.0, 1.94),
}

ARTICLE = "The Vietnamese tutorial article this series follows (LeNet-300-100 on MNIST in PyTorch, after Han et al.)"

# The article's own results, printed beside ours by notebooks 01-04 (accuracies in %, on MNIST's test set).
ARTICLE_RESULTS = {
    "epochs": 100, "s": 2.0, "bits": 5,
    "base_accuracy": 98.18,  # notebook 01
    "pruned_percent": 94.01, "pruned_rate": 16.70, "pruned_accuracy": 58.05,  # notebook 02, s = 2, no retraining
    "retrained_accuracy": 98.39,  # notebook 03
    "shared_accuracy": 98.40,  # notebook 04, 5 bits, linear init
}

# Deep Compression's LeNet-300-100 row of Table 1 and Table 2, as notebook 06 prints it (KB = 1,000 bytes).
DEEP_COMPRESSION_LENET300_FILE = {"dense_kb": 1070, "compressed_kb": 27, "ratio": 40.0, "ratio_without_huffman": 32.0,
                                  "kept_percent": 8.0, "error": 1.58}


# Structured pruning and linear quantization (notebook 11).
LI_2017 = "Li, Kadav, Durdanovic, Samet, Graf (2017), Pruning Filters for Efficient ConvNets, ICLR, arXiv:1608.08710"
FANG_2023 = "Fang, Ma, Song, Mi, Wang (2023), DepGraph: Towards Any Structural Pruning, CVPR (Torch-Pruning)"
JACOB_2018 = ("Jacob et al. (2018), Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only "
              "Inference, CVPR, arXiv:1712.05877")
MIT_6_5940 = ("MIT 6.5940, TinyML and Efficient Deep Learning Computing (Song Han), lab 1 (fine-grained and channel "
              "pruning) and lab 2 (k-means and linear quantization)")

# Notebook 13's target for the page's first prediction: Nielsen's first limit of response times.
NIELSEN_1993 = "Nielsen (1993), Usability Engineering, chapter 5, Response Times: The Three Important Limits"
INSTANT_SECONDS = 0.1  # "about the limit for having the user feel that the system is reacting instantaneously"
