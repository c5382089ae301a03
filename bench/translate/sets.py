"""The benchmark's sentences, written for it: meeting talk, with reference translations.

VI: Vietnamese (espeak-ng voices it) with English references, for Whisper's speech translation.
EN: English with Spanish, Catalan and Galician references, for the offline text engines (apertium).
"""

from __future__ import annotations

VI: list[tuple[str, str]] = [
    (
        "Xin chào mọi người, hôm nay chúng ta họp về kế hoạch quý ba.",
        "Hello everyone, today we are meeting about the third quarter plan.",
    ),
    ("Anh có nghe rõ tôi nói không?", "Can you hear me clearly?"),
    (
        "Bản phát hành tiếp theo sẽ ra vào chiều thứ năm.",
        "The next release will come out on Thursday afternoon.",
    ),
    ("Chị vui lòng chia sẻ màn hình để mọi người cùng xem.", "Please share your screen so everyone can see."),
    ("Tôi nghĩ ngân sách cần được xem xét lại.", "I think the budget needs to be reviewed again."),
    ("Cảm ơn anh, phần tóm tắt đó rất hữu ích.", "Thank you, that summary was very helpful."),
    (
        "Chúng ta chuyển sang mục tiếp theo trong chương trình họp.",
        "Let's move on to the next item on the agenda.",
    ),
    ("Hôm nay ai ghi biên bản cuộc họp?", "Who is taking the meeting minutes today?"),
    (
        "Khách hàng muốn nhận báo cáo trước thứ sáu tuần sau.",
        "The customer wants to receive the report before next Friday.",
    ),
    ("Đội kỹ thuật đã sửa xong lỗi đăng nhập.", "The engineering team has finished fixing the login bug."),
    ("Chúng tôi cần thêm hai người cho dự án mới.", "We need two more people for the new project."),
    (
        "Cuộc họp tuần sau sẽ bắt đầu lúc chín giờ sáng.",
        "Next week's meeting will start at nine in the morning.",
    ),
]

# English -> (Spanish, Catalan, Galician)
EN: list[tuple[str, dict[str, str]]] = [
    (
        "Good morning everyone, let's start the meeting.",
        {
            "es": "Buenos días a todos, empecemos la reunión.",
            "ca": "Bon dia a tothom, comencem la reunió.",
            "gl": "Bos días a todos, comecemos a reunión.",
        },
    ),
    (
        "Can you hear me now?",
        {"es": "¿Me oyes ahora?", "ca": "Em sents ara?", "gl": "Óesme agora?"},
    ),
    (
        "The new version will be released next week.",
        {
            "es": "La nueva versión se publicará la próxima semana.",
            "ca": "La nova versió es publicarà la setmana que ve.",
            "gl": "A nova versión publicarase a próxima semana.",
        },
    ),
    (
        "Please share your screen with the team.",
        {
            "es": "Por favor, comparte tu pantalla con el equipo.",
            "ca": "Si us plau, comparteix la teva pantalla amb l'equip.",
            "gl": "Por favor, comparte a túa pantalla co equipo.",
        },
    ),
    (
        "We need more time to finish the report.",
        {
            "es": "Necesitamos más tiempo para terminar el informe.",
            "ca": "Necessitem més temps per acabar l'informe.",
            "gl": "Necesitamos máis tempo para rematar o informe.",
        },
    ),
    (
        "The customer is very happy with the results.",
        {
            "es": "El cliente está muy contento con los resultados.",
            "ca": "El client està molt content amb els resultats.",
            "gl": "O cliente está moi contento cos resultados.",
        },
    ),
    (
        "Who will write the minutes today?",
        {
            "es": "¿Quién escribirá el acta hoy?",
            "ca": "Qui escriurà l'acta avui?",
            "gl": "Quen escribirá a acta hoxe?",
        },
    ),
    (
        "The budget for this year is still open.",
        {
            "es": "El presupuesto de este año todavía está abierto.",
            "ca": "El pressupost d'aquest any encara està obert.",
            "gl": "O orzamento deste ano aínda está aberto.",
        },
    ),
    (
        "I will send you the documents after lunch.",
        {
            "es": "Te enviaré los documentos después de comer.",
            "ca": "T'enviaré els documents després de dinar.",
            "gl": "Enviareiche os documentos despois de xantar.",
        },
    ),
    (
        "Thank you all for coming, see you on Monday.",
        {
            "es": "Gracias a todos por venir, nos vemos el lunes.",
            "ca": "Gràcies a tots per venir, ens veiem dilluns.",
            "gl": "Grazas a todos por vir, vémonos o luns.",
        },
    ),
]
