# embed.cmake: turns a Lua source file into a C header holding it as a string
# (cmake -DIN=file.lua -DOUT=file.h -DNAME=symbol -P embed.cmake).
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* generated from ${IN}: do not edit */\nstatic const char ${NAME}[] = {${bytes}0x00};\n")
