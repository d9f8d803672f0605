// BERT-base, uncased vocabulary: L=12, H=768, A=12, with the pretraining heads.
model "bert-base" extends "bert.tcc" {
}
