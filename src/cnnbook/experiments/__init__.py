"""Experiments that compare training runs over several seeds (chapter 6 and later).

regularization   weight decay, dropout, augmentation and early stopping on a small training set
"""
