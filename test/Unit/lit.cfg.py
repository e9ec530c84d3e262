# -*- Python -*-
# Runs the GoogleTest unit tests as part of the lit suite.

import os

import lit.formats

config.name = "ATTN-Unit"
config.suffixes = []
config.test_exec_root = os.path.join(config.attn_obj_root, "test", "Unit")
config.test_source_root = config.test_exec_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
