# Copyright (c) sekd-mm contributors. All rights reserved.
"""A real MMEngine runner checkpoint loads and resumes under weights_only.
"""
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch.utils.data import Dataset


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        pred = self.linear(torch.stack(inputs))
        if mode == 'loss':
            err = pred.squeeze(1) - torch.stack(labels)
            return {'loss': (err**2).mean()}
        return pred


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        x = torch.randn(2, generator=g)
        return dict(inputs=x, labels=x.sum())


def make_runner(work_dir, max_iters, resume=False, **kwargs):
    """A real Runner on the toy model and data (``kwargs``: more of the
    Runner's arguments)."""
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        resume=resume,
        experiment_name=f'ckpt_{max_iters}_{resume}',
        default_scope='mmengine',
        **kwargs)


def test_runner_checkpoint_load_and_resume(tmp_path):
    runner = make_runner(tmp_path, max_iters=4)
    runner.train()
    ckpt = tmp_path / 'iter_4.pth'
    assert ckpt.exists()
    # plain torch.load with the torch>=2.6 default (weights_only=True)
    state = torch.load(ckpt)
    assert 'message_hub' in state and state['meta']['iter'] == 4
    # mmengine's loader
    model = ToyModel()
    load_checkpoint(model, str(ckpt))
    torch.testing.assert_close(model.linear.weight,
                               runner.model.linear.weight)
    # resume continues from iteration 4
    resumed = make_runner(tmp_path, max_iters=6, resume=True)
    resumed.train()
    assert resumed.iter == 6
    assert (tmp_path / 'iter_6.pth').exists()
