"""Gallery Sales Workflows: timed emails (and, on the same steps and schedule, banners and
announcements) that follow a gallery's life and its visitors' actions.

`timing` is pure time math (tested from tables); `planner` turns a gallery's workflow into
ScheduledAction rows and moves them when the gallery, a step or a visitor changes;
`runner` is what an arq job calls for one due row; `messages` renders an email step;
`builder` owns workflows and steps (the panel's CRUD and the templates). Models live in
`workflows.models`.
"""
