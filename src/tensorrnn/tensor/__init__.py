"""Pure math on lists of cores (TT, TR, BT, HT): shapes, contraction, reconstruction, decomposition.

No ``nn.Module`` and no state beyond the cache of contraction plans (:mod:`.plan`).
"""
from tensorrnn.tensor.bt import (bt_contract, bt_decompose, bt_init_std, bt_macs, bt_norm, bt_num_params,
                                 bt_ranks, bt_shapes, bt_to_dense)
from tensorrnn.tensor.ht import (check_tree, ht_chain, ht_contract, ht_init_std, ht_macs, ht_nodes, ht_norm,
                                 ht_num_params, ht_ranks, ht_shapes, ht_svd, ht_to_dense, ht_tree)
from tensorrnn.tensor.shapes import check_rank_list, check_shape, factorize, suggest_shapes
from tensorrnn.tensor.tr import (tr_als, tr_contract, tr_core_shapes, tr_decompose, tr_init_std, tr_macs,
                                 tr_norm, tr_num_params, tr_ranks, tr_svd, tr_to_dense)
from tensorrnn.tensor.tt import (tt_contract, tt_core_shapes, tt_init_std, tt_macs, tt_norm, tt_num_params,
                                 tt_ranks, tt_svd, tt_to_dense)
