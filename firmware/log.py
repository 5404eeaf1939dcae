# One line per event on the console (serial on the ESP32, stdout in the simulator):
#   dcz <event> key=value ...
# The simulator reads these lines; never pass a secret here.


def event(name, **fields):
    # Printed piece by piece rather than joined: events come while a reading or a batch is alive,
    # and a list plus two strings per field cost about 1 KB of heap for a four-field event.
    print("dcz", name, end="")
    for k in fields:
        print("", k, end="=")  # " key="
        print(fields[k], end="")
    print()
