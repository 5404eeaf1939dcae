# Runs before main.py on every boot. Kept empty on purpose: the application starts from main.py,
# and app.run() checks the safe-mode pin before doing anything.
