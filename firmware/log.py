# One line per event on the console (serial on the ESP32, stdout in the simulator):
#   dcz <event> key=value ...
# The simulator reads these lines; never pass a secret here.


def event(name, **fields):
    parts = ["dcz", name]
    for k in fields:
        parts.append(k + "=" + str(fields[k]))
    print(" ".join(parts))
