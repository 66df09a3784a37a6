"""The generated knowledge base: sizes, keywords, held-out template, word-level tokenizer, determinism."""

import torch

from livepapers.knowledge_neurons import build_tokenizer, make_knowledge_base
from livepapers.knowledge_neurons.data import MASK, RELATIONS


def test_sizes_keywords_and_held_out_template():
    kb = make_knowledge_base(torch.Generator().manual_seed(0))
    assert len(kb.facts) == 720 and len(kb.train_sentences) == 2880 and len(kb.fillers) == 960
    assert sum(len(v) for v in kb.analysed.values()) == 120
    for r in kb.relations:
        assert 12 <= len(kb.objects[r]) <= 20
        kw = RELATIONS[r][0]
        assert all(kw in t.split() for t in kb.templates[r])  # the keyword is in every template
    trained = {s for s, _ in kb.train_sentences}
    for f in kb.facts[:50]:
        assert f.prompts[4].replace(MASK, f.object) not in trained  # template 5 is never trained
        assert f.prompts[0].replace(MASK, f.object) in trained
        assert all(p.count(MASK) == 1 for p in f.prompts)
        assert all(f.subject in x and MASK in x for x in kb.t1[f.id])
        assert all(f.subject not in x.split() for x in kb.t3[f.id])
        assert all(f.object not in x.split() for x in kb.t2[f.id] + kb.t1[f.id])
    # fillers never state a fact's object
    objects = {o for os_ in kb.objects.values() for o in os_}
    assert not any(set(x.split()) & objects for x in kb.fillers)


def test_tokenizer_is_word_level_without_unk():
    kb = make_knowledge_base(torch.Generator().manual_seed(0), n_subjects=20, n_relations=2)
    tok = build_tokenizer(kb)
    f = kb.facts[3]
    ids = tok(f.prompts[0])["input_ids"]
    assert len(ids) == len(f.prompts[0].split()) + 2  # [CLS] words [SEP]: one token per word
    assert tok.unk_token_id not in ids
    assert tok.convert_tokens_to_ids(f.object) != tok.unk_token_id


def test_same_generator_same_kb_and_different_seed_differs():
    a = make_knowledge_base(torch.Generator().manual_seed(0), n_subjects=20, n_relations=2)
    b = make_knowledge_base(torch.Generator().manual_seed(0), n_subjects=20, n_relations=2)
    c = make_knowledge_base(torch.Generator().manual_seed(1), n_subjects=20, n_relations=2)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != c.to_dict()
    assert type(a).from_dict(a.to_dict()).to_dict() == a.to_dict()
