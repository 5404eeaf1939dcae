"""The travelling exhibition: `datacityzen exhibition`, the live page for a big screen and its feed.

- `feed.py`: new readings from the store, fanned out to open pages (`/api/v1/live`, api/live.py).
- `reactions.py`: the sudden changes a visitor makes (a clap, a breath).
- `page.py` + `assets/`: GET /exhibition; `content.py`: what it says, in French and English.
- `command.py`: the command (server + optional simulated kits) and the simulated kits' scene.
"""
