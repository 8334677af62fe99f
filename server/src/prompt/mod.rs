//! Finding the natural-language prompt in a comment.
