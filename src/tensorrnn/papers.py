"""Numbers from the papers, in one place, with their source.

Sources:
- TT-RNN: Yang, Krompass, Tresp, "Tensor-Train Recurrent Neural Networks for Video
  Classification", ICML 2017.
- BT-RNN: Ye et al., "Learning Compact Recurrent Neural Networks with Block-Term Tensor
  Decomposition", CVPR 2018.
- TR-LSTM: Pan et al., "Compressing Recurrent Neural Networks with Tensor Ring for Action
  Recognition", AAAI 2019.

Everything here is plain data (no torch): shapes, ranks, published parameter counts,
reported results, protocol constants. Code that needs a paper's number imports it from here.
"""
from __future__ import annotations

# --- Shapes and ranks of the published configurations -------------------------------------

#: UCF11 / TT-RNN: frame 160x120x3 = 57,600 reshaped 8x20x20x18; hidden 256 as 4x4x4x4.
UCF11_IN_SHAPE = (8, 20, 20, 18)
UCF11_HIDDEN_SHAPE = (4, 4, 4, 4)
#: Frame size (width, height) the papers downscale to.
UCF11_FRAME_SIZE = (160, 120)

#: TR-LSTM on UCF11 (Pan et al.): input 4x2x5x8x6x5x3x2, output 4x4x2x4x2,
#: all TR ranks 5 except R_0 = R_{n+m} = 10 (the closing rank).
TR_UCF11_IN_SHAPE = (4, 2, 5, 8, 6, 5, 3, 2)
TR_UCF11_HIDDEN_SHAPE = (4, 4, 2, 4, 2)
TR_UCF11_RANK = 5
TR_UCF11_CLOSING_RANK = 10

#: BT-LSTM on UCF11 (Ye et al.): input 8x20x20x18, hidden 4x4x4x4, core rank 4, 2 blocks.
BT_UCF11_RANK = 4
BT_UCF11_BLOCKS = 2

#: Hollywood2 (TT-RNN): frames 234x100x3 = 70,200 reshaped 10x18x13x30, hidden 4x4x4x4, rank 4.
HOLLYWOOD2_IN_SHAPE = (10, 18, 13, 30)
HOLLYWOOD2_FRAME_SIZE = (234, 100)
#: YouTube Celebrities (TT-RNN): 160x120x3 reshaped 4x20x20x36, hidden 4x4x4x4, rank 4.
YOUTUBE_IN_SHAPE = (4, 20, 20, 36)
#: CNN features + TR-LSTM (Pan et al.): 2048-d input as 64x32, hidden 2048 as 32x64,
#: TR ranks 40, 60, 48, 48 (R_0 first); about 25x compression over the LSTM.
CNN_TR_IN_SHAPE = (64, 32)
CNN_TR_HIDDEN_SHAPE = (32, 64)
CNN_TR_RANKS = (40, 60, 48, 48)

#: Number of gates packed into the first output mode (all three papers).
NUM_GATES = {"rnn": 1, "gru": 3, "lstm": 4}

# --- Parameter counts to reproduce exactly (input-to-hidden only, no bias) ------------------

#: Dense input-to-hidden weights for the UCF11 setting.
UCF11_DENSE_PARAMS = {"fc": 14_745_600, "gru": 44_236_800, "lstm": 58_982_400}

#: TT-RNN paper, table of parameter counts, UCF11 shapes; keyed by TT-rank.
TT_PARAM_TABLE = {
    3: {"ttl": 1_752, "vanilla_tt_lstm": 7_008, "tt_lstm": 2_040, "vanilla_tt_gru": 5_256, "tt_gru": 1_944},
    4: {"ttl": 2_976, "vanilla_tt_lstm": 11_904, "tt_lstm": 3_360, "vanilla_tt_gru": 8_928, "tt_gru": 3_232},
    5: {"ttl": 4_520, "vanilla_tt_lstm": 18_080, "tt_lstm": 5_000, "vanilla_tt_gru": 13_560, "tt_gru": 4_840},
}
#: TR paper: reported compression of TR-LSTM over the dense LSTM on UCF11 ("over 34,000x").
TR_UCF11_REPORTED_COMPRESSION = 34_000

# --- Reported results ------------------------------------------------------------------------

REPORTED_RESULTS = {
    "ucf11": {  # accuracy
        "tt-rnn paper": {"TT-MLP": 0.427, "GRU": 0.488, "LSTM": 0.492, "TT-GRU": 0.813, "TT-LSTM": 0.796},
        "tr paper": {"LSTM": 0.697, "TT-LSTM": 0.796, "BT-LSTM": 0.853, "TR-LSTM": 0.869,
                     "CNN+LSTM": 0.923, "CNN+TR-LSTM": 0.938},
    },
    "hollywood2": {"tt-rnn paper": {"GRU": 0.249, "LSTM": 0.108, "TT-GRU": 0.537, "TT-LSTM": 0.546}},  # mAP
    "youtube_celebrities": {"tt-rnn paper": {"GRU": 0.342, "LSTM": 0.332, "TT-GRU": 0.800, "TT-LSTM": 0.755}},
    "hmdb51": {"tr paper": {"CNN+LSTM": 0.629, "CNN+TR-LSTM": 0.638}},
}
#: TT-RNN paper, training time on UCF11 in seconds.
UCF11_TRAINING_TIME_S = {"TT-GRU": 1_872, "GRU": 7_056, "LSTM": 8_892}

# --- Protocols ---------------------------------------------------------------------------------

#: Frames sampled per clip (BT-RNN code: sorted(random.sample(range(T), 6))).
FRAMES_PER_CLIP = 6
#: TT-RNN split: numpy seed, permutation of the sorted clip list, 5 contiguous folds.
TT_RNN_SPLIT_SEED = 11111986
TT_RNN_NUM_FOLDS = 5
#: BT-RNN split: one random 80/20 split (1,280 / 320 clips on UCF11).
BT_RNN_TRAIN_FRACTION = 0.8
#: Training hyper-parameters.
UCF11_TRAINING = {"optimizer": "adam", "lr": 1e-4, "batch_size": 16, "epochs": 500, "output_l2": 1e-2}
HOLLYWOOD2_TRAINING = {"optimizer": "adam", "lr": 1e-3, "batch_size": 32}
YOUTUBE_TRAINING = {"optimizer": "adam", "lr": 1e-3, "batch_size": 16}
#: Original code: variational recurrent dropout rate.
RECURRENT_DROPOUT = 0.25

# --- Datasets ------------------------------------------------------------------------------------

UCF11_CLASSES = (
    "basketball", "biking", "diving", "golf_swing", "horse_riding", "soccer_juggling",
    "swing", "tennis_swing", "trampoline_jumping", "volleyball_spiking", "walking",
)
#: UCF11 class folder -> clip prefix, where they differ (v_<prefix>_<GG>_<CC>.mpg).
UCF11_CLIP_PREFIX = {
    "basketball": "shooting", "walking": "walk_dog", "horse_riding": "riding",
    "soccer_juggling": "juggle", "trampoline_jumping": "jumping",
    "volleyball_spiking": "spiking", "golf_swing": "golf", "tennis_swing": "tennis",
}
UCF11_NUM_CLIPS = 1_600
UCF11_NUM_GROUPS = 25
HOLLYWOOD2_ACTIONS = (
    "AnswerPhone", "DriveCar", "Eat", "FightPerson", "GetOutCar", "HandShake",
    "HugPerson", "Kiss", "Run", "SitDown", "SitUp", "StandUp",
)
HOLLYWOOD2_NUM_TRAIN, HOLLYWOOD2_NUM_TEST = 823, 884
YOUTUBE_NUM_CLIPS, YOUTUBE_NUM_PEOPLE = 1_910, 47
HMDB51_NUM_CLASSES, HMDB51_NUM_CLIPS = 51, 6_766

# KTH (Schuldt, Laptev, Caputo, ICPR 2004): 6 actions x 25 persons x 4 scenarios (d1-d4),
# 160x120 grey at 25 fps, each video cut into 4 subsequences (00sequences.txt; 2,391 in all).
KTH_ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
KTH_FRAME_SIZE = (160, 120)
#: The paper's person split: 8 training, 8 validation, 9 test persons.
KTH_SPLIT_PERSONS = {
    "train": (11, 12, 13, 14, 15, 16, 17, 18),
    "val": (1, 4, 19, 20, 21, 23, 24, 25),
    "test": (2, 3, 5, 6, 7, 8, 9, 10, 22),
}
# Weizmann actions as space-time shapes (Gorelick et al., PAMI 2007; Blank et al., ICCV 2005):
# 10 actions x 9 actors (lena also has run2, skip2, walk2: 93 videos), 180x144 at 50 fps;
# the usual protocol is leave one actor out.
WEIZMANN_ACTIONS = ("bend", "jack", "jump", "pjump", "run", "side", "skip", "walk", "wave1", "wave2")
WEIZMANN_ACTORS = ("daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar")
WEIZMANN_FRAME_SIZE = (180, 144)

# --- Synthetic weight recovery (TR paper) ---------------------------------------------------
RECOVER_SIZE = 81
RECOVER_SHAPE = (3, 3, 3, 3)
RECOVER_NUM_SAMPLES = 3_200
RECOVER_INPUT_VARIANCE = 0.5
