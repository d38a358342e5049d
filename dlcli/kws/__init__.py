"""Keyword spotting on one-second clips: Xception-1d and a small log-mel variant (dissertation ch. 6)."""
